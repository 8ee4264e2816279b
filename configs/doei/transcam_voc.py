# Entry point: DOEI + TransCAM on PASCAL VOC 2012.
#   bash tools/dist_train.sh configs/doei/transcam_voc.py 4
_base_ = ['./doei-transcam_conformer-s_1xb8-20e_voc12aug-512.py']
