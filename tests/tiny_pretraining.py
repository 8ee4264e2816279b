"""The settings of the ``tiny_pretrained`` fixture (conftest.py), in their own module so a test can ask
``pretrain_backbone`` for the same backbone again (see background.py on why not ``from conftest import``)."""

#: Config overrides: one short epoch of batch 4 on one thread, a 5-class head.
CFG_OPTIONS = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
               'default_hooks.checkpoint.interval': 1,
               'train_dataloader.batch_size': 4, 'train_dataloader.num_workers': 0,
               'train_dataloader.persistent_workers': False,
               'val_dataloader.num_workers': 0, 'val_dataloader.persistent_workers': False,
               'model.head.num_classes': 5, 'data_preprocessor.num_classes': 5,
               'log_level': 'WARNING',
               # one thread: two spin against other jobs on a loaded machine
               'default_hooks.num_threads.num_threads': 1}
#: The procedural set: 5 classes of 3 + 1 images.
DATA_OPTIONS = dict(num_classes=5, num_train=3, num_val=1, progress=False)
