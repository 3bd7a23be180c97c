# Seed (MMSegmentation, Constructor): a project's own constructor. Twin: examples/seeds/custom_constructor.toml.
# The seed imports mmseg.engine.optimizers.my_optimizer_constructor and leaves the optimizer to
# its base config; here both are spelt out.
custom_imports = dict(imports=['seed_models', 'my_constructor'], allow_failed_imports=False)
optim_wrapper = dict(type='OptimWrapper',
                     constructor='MyOptimizerConstructor',
                     optimizer=dict(type='SGD', lr=0.01),
                     clip_grad=None)
