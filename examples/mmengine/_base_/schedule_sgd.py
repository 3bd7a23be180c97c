# A base schedule: SGD with a step decay, 12 epochs.
base_lr = 0.1
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[8, 11], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=1)
