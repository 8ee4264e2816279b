# MS COCO 2014 with image-level labels from the instance annotations (80 classes),
# seeds scored against COCO-stuff-style semantic PNGs (0 background, 1..80, 255).
# What differs from VOC: the dataset, its files and the class count.
_base_ = ['./voc12aug_cls.py']

dataset_type = 'COCOWSSSDataset'
data_root = 'data/coco/'
num_classes = 80

data_preprocessor = dict(num_classes=num_classes)
# split=None: every image of the annotation file (COCOWSSSDataset's default).
train2014 = dict(type=dataset_type, data_root=data_root, split=None,
                 ann_file='annotations/instances_train2014.json',
                 data_prefix=dict(img_path='train2014', seg_map_path='SegmentationClass/train2014'))
train_dataloader = dict(dataset=train2014)
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, split=None, ann_file='annotations/instances_val2014.json',
    data_prefix=dict(img_path='val2014', seg_map_path='SegmentationClass/val2014')))
test_dataloader = val_dataloader
cam_dataloader = dict(dataset=train2014)
cam_eval = dict(data_root=data_root, split='train_id.txt', gt_dir='SegmentationClass/train2014',
                num_classes=num_classes + 1)
