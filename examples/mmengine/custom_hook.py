# Seed (MMSegmentation / MMSelfSup, Hook). Twin: examples/seeds/custom_hook.toml.
# The seed's a_value and b_value are placeholders; a real config binds them, as here.
# The seed imports mmseg.engine.hooks.new_hook; customrun's NewHook lives in examples/seeds/new_hook.py.
a_value = 2
b_value = 1
custom_imports = dict(imports=['seed_models', 'new_hook'], allow_failed_imports=False)
custom_hooks = [
    dict(type='NewHook', a=a_value, b=b_value, priority='ABOVE_NORMAL')
]
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
