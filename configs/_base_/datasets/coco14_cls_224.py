# MS COCO 2014 with image-level labels from the instance annotations (80 classes),
# seeds scored against COCO-stuff-style semantic PNGs (0 background, 1..80, 255).
_base_ = ['./voc12aug_cls_224.py']

dataset_type = 'COCOWSSSDataset'
data_root = 'data/coco/'
num_classes = 80

data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(
    _delete_=True, type=dataset_type, data_root=data_root,
    ann_file='annotations/instances_train2014.json',
    data_prefix=dict(img_path='train2014', seg_map_path='SegmentationClass/train2014'),
    pipeline={{_base_.train_pipeline}}, min_size=16))
val_dataloader = dict(dataset=dict(
    _delete_=True, type=dataset_type, data_root=data_root,
    ann_file='annotations/instances_val2014.json',
    data_prefix=dict(img_path='val2014', seg_map_path='SegmentationClass/val2014'),
    pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
cam_dataloader = dict(dataset=dict(
    _delete_=True, type=dataset_type, data_root=data_root,
    ann_file='annotations/instances_train2014.json',
    data_prefix=dict(img_path='train2014', seg_map_path='SegmentationClass/train2014'),
    pipeline={{_base_.cam_pipeline}}, min_size=16))
cam_eval = dict(_delete_=True, data_root=data_root, split='train_id.txt',
                gt_dir='SegmentationClass/train2014', num_classes=num_classes + 1)
