# A base in MMEngine's style: the digits data, a small classifier, one short epoch.
model = dict(
    type='ClassifierModel',
    backbone=dict(type='MLP', in_features=8 * 8, hidden_features=[64], num_classes=10))
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='DigitsDataset', split='train'))
val_dataloader = dict(
    batch_size=256,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DigitsDataset', split='val'))
val_evaluator = dict(type='Accuracy', topk=(1, ))
val_cfg = dict()
custom_imports = dict(imports=['seed_models'], allow_failed_imports=False)
