# Seed (MMSegmentation, Constructor): layer-wise learning-rate decay. Twin: examples/seeds/layer_decay.toml.
# Needs: pip install customrun-layer-decay
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='LearningRateDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='layer_wise', num_layers=2))
