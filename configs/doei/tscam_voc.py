# Entry point: DOEI + TS-CAM on PASCAL VOC 2012.
#   bash tools/dist_train.sh configs/doei/tscam_voc.py 4
_base_ = ['./doei-tscam_deit-s_1xb64-60e_voc12aug-224.py']
