# Seed (MMSelfSup, OptimWrapper, mixed precision). Twin: examples/seeds/amp.toml.
# Needs: pip install customrun-amp. loss_scale defaults to 'dynamic', as in MMEngine.
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=optimizer)
