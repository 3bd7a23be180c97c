# Seed (MMSelfSup, Scheduler): linear warm-up, then cosine annealing. Twin: examples/seeds/mae_schedule.toml.
# Needs: pip install customrun-cosine. The seed's note: change param_scheduler with max_epochs.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=400)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=360,
        by_epoch=True,
        begin=40,
        end=400,
        convert_to_iter_based=True)
]
