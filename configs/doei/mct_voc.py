# Entry point: DOEI + MCTformer-V2 on PASCAL VOC 2012.
#   bash tools/dist_train.sh configs/doei/mct_voc.py 4
_base_ = ['./doei-mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py']
