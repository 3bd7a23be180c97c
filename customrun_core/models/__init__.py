"""Models: MMEngine's train_step / val_step contract, a base class and the shipped examples."""
