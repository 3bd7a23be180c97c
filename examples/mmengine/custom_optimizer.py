# Seed (MMSegmentation, Optimizer): a project's own optimizer. Twin: examples/seeds/custom_optimizer.toml.
# The seed imports mmseg.engine.optimizers.my_optimizer; customrun's MyOptimizer is examples/seeds/my_optimizer.py.
a_value, b_value, c_value = 0.5, 0.2, 1.0
custom_imports = dict(imports=['seed_models', 'my_optimizer'], allow_failed_imports=False)
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='MyOptimizer',
                                    a=a_value, b=b_value, c=c_value),
                     clip_grad=None)
