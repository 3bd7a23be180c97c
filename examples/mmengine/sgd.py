# Seed (MMSelfSup, Optimizer / OptimWrapper). Twin: examples/seeds/sgd.toml.
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
