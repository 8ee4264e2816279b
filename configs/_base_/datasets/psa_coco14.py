# Pseudo-label stage (PSA) on MS COCO 2014 train (82,081 images with annotations, 80
# classes). The recipe of psa_voc12aug.py; masks hold 0..80 (+255), scored against
# SegmentationClass/train2014 when those GT masks exist.
_base_ = ['./psa_voc12aug.py']
dataset_type = 'COCOWSSSDataset'
data_root = 'data/coco/'
num_classes = 81  # with background
cam_dir = 'work_dirs/cams/coco14_train'

# PSA's steps with this CAM folder and class count.
train_pipeline = [dict(t, cam_dir=cam_dir, num_classes=num_classes, cache_dir=cam_dir + '_psa_crf')
                  if t['type'] == 'LoadAffinityLabelFromCAM' else t for t in _base_.train_pipeline]
test_pipeline = [dict(t, cam_dir=cam_dir, num_classes=num_classes)
                 if t['type'] == 'LoadCAMFromFile' else t for t in _base_.test_pipeline]
psa_dataset = dict(_delete_=True, type=dataset_type, data_root=data_root,
                   ann_file='annotations/instances_train2014.json',
                   data_prefix=dict(img_path='train2014', seg_map_path='SegmentationClass/train2014'))
train_dataloader = dict(dataset=dict(psa_dataset, pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(psa_dataset, pipeline=test_pipeline))
test_evaluator = dict(num_classes=num_classes)
