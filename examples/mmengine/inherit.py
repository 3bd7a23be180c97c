# _base_ and _delete_ as MMEngine merges them: three bases in order, this file on top.
_base_ = ['_base_/digits.py', '_base_/schedule_sgd.py', '_base_/runtime.py']

# Merged into the base's model: only the backbone's width changes ...
model = dict(backbone=dict(hidden_features=[128]))
# ... while _delete_ replaces the base's optimizer wrapper instead of merging into it
# (without it, SGD's momentum would be merged into AdamW's arguments).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=_base_.base_lr / 100, betas=(0.9, 0.999), weight_decay=0.05))
# Lists replace: one linear warm-up instead of the base's MultiStepLR.
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=10), sampler_seed=None)
randomness = dict(seed=0)
