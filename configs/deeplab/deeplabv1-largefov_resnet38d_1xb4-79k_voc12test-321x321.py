# Predictions for the VOC 2012 test split (1,456 images, no public masks) in the evaluation
# server's format: palette PNGs in OUT/results/VOC2012/Segmentation/comp6_test_cls/ and
# OUT/results.tgz to upload. The test images go into the same VOC2012 folder
# (JPEGImages/, ImageSets/Segmentation/test.txt), as the VOC2012 test tar unpacks them.
#   python tools/test.py THIS work_dirs/deeplab/iter_79350.pth --tta --data-root data/VOCdevkit/VOC2012 \
#       --cfg-options test_evaluator.out_dir=work_dirs/deeplab/voc12_test
_base_ = ['./deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py']
# The TTA pipeline without LoadAnnotations (there are no masks to load).
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.5, 0.75, 1.0, 1.25, 1.5)],
                    [dict(type='RandomFlip', prob=0., direction='horizontal'),
                     dict(type='RandomFlip', prob=1., direction='horizontal')],
                    [dict(type='PackSegInputs')]])
]
test_dataloader = dict(dataset=dict(ann_file='ImageSets/Segmentation/test.txt'))
test_evaluator = dict(_delete_=True, type='VOCServerWriter', out_dir='work_dirs/voc12_test_results', comp='comp6')
