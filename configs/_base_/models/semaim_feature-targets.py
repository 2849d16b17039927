# Feature targets (paper Sec. "Prediction Targets", Table 2): a frozen DINO or
# CLIP teacher's tokens as targets, loss 2 - 2cos (MSE of L2-normalised
# vectors), and the order's similarity map from the teacher's own tokens (one
# teacher pass per step, no student similarity pass), as the reference code
# does. A config inherits this next to its parent and adds its teacher:
#   _base_ = ['./PARENT.py', '../_base_/models/semaim_feature-targets.py']
#   model = dict(_base_.feature_targets,
#                target_generator=dict(_delete_=True, type=..., ...))
feature_targets = dict(
    head=dict(
        loss=dict(
            _delete_=True, type='CosineSimilarityLoss', shift_factor=2.0,
            scale_factor=2.0)),
    similarity_source='teacher',
)
