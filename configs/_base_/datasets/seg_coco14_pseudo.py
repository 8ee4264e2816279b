# MS COCO 2014 (81 classes) for the segmentation stage: train on the stage-2 pseudo masks of
# train2014 (82,081 images, MCTformer's train_id.txt), validate on val2014 (40,137) with
# the WSSS ground truth SegmentationClass/val2014 (0 background, 1..80, 255 ignore).
# The recipe of seg_voc12aug_pseudo.py (pipelines, test-time augmentation, loaders).
_base_ = ['./seg_voc12aug_pseudo.py']
dataset_type = 'COCOObjectDataset'
data_root = 'data/coco/'
num_classes = 81
pseudo_mask_dir = 'work_dirs/pseudo_masks/coco14_train'

# The VOC steps, the masks checked against 81 classes.
train_pipeline = [dict(t, **(dict(num_classes=num_classes) if t['type'] == 'LoadPseudoMask' else {}))
                  for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='train_id.txt', data_prefix=dict(img_path='train2014'),
    pseudo_mask_dir=pseudo_mask_dir, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='val_id.txt',
    data_prefix=dict(img_path='val2014', seg_map_path='SegmentationClass/val2014')))
test_dataloader = val_dataloader
