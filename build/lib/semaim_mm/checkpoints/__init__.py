"""Checkpoint formats of the SemAIM student: reading, detection, key maps.

Formats (:func:`detect_format`): ``semaim`` (this project's pre-training
checkpoint: ``backbone.*`` in mmpretrain ``VisionTransformer`` names,
``neck.*``, ``head.*``), ``reference`` (the authors' skyoux/SemAIM
``AimViT``: timm names ``blocks.N.*``, ``norm``, ``query_blocks.N.*``,
``prediction_head.*`` and the blur buffer ``gaussian_blur.weight``; their
``main_pretrain.py`` saves it under ``state_dict``, ``module.``-prefixed under
torch.distributed, ``util/misc.py save_model`` under ``model`` next to an
``argparse.Namespace``), ``backbone`` (encoder only, no prefix),
``classifier``, ``timm-vit``, ``detector`` and ``segmentor``.

Documented differences from the reference layout:

* The reference has one final ``norm`` for the encoder's output (similarity
  pass, fine-tuning) and the decoder's (before the prediction MLP); here
  these are ``backbone.ln1`` and ``head.norm``. reference -> semaim copies
  ``norm`` into both; semaim -> reference writes one (``head.norm`` by
  default, the one the reference trains) and warns when they differ.
* ``gaussian_blur.weight`` is no weight of ours (``RGBTargetGenerator``
  rebuilds its kernel): checked against the model's kernel and dropped;
  semaim -> reference writes it back.
* GAP fine-tuning (``out_type='avg_featmap'``) has an ``ln2`` no pre-training
  checkpoint has; with ``final_norm=False`` ``ln1`` is unused.

Every loader goes through :func:`load_encoder_state_dict` (encoder weights
from any of these; :func:`load_encoder_into` loads them strictly) or
:func:`reference_to_semaim` (a whole SemAIM).
"""
from .keys import (TIMM_TO_MM_BLOCK, TIMM_TO_MM_DECODER_BLOCK,
                   TIMM_TO_MM_STEM, StateDict, detect_format, map_blocks,
                   mm_vit_to_timm, rename, strip_prefix, sub_dict,
                   timm_vit_to_mm)
from .loading import (Checkpoint, load_encoder_into, load_encoder_state_dict,
                      missing_checkpoint_message, read_checkpoint,
                      resize_pos_embed, semaim_to_backbone, state_dict_of)
from .reference import (BLUR_KEY, DEFAULT_BLUR, check_reference_blur,
                        expected_blur, reference_blur_kernel,
                        reference_to_semaim, semaim_to_reference)

__all__ = [
    'BLUR_KEY', 'DEFAULT_BLUR', 'TIMM_TO_MM_BLOCK', 'TIMM_TO_MM_DECODER_BLOCK',
    'TIMM_TO_MM_STEM', 'Checkpoint', 'StateDict', 'check_reference_blur',
    'detect_format', 'expected_blur', 'load_encoder_into',
    'load_encoder_state_dict', 'map_blocks', 'missing_checkpoint_message',
    'mm_vit_to_timm', 'read_checkpoint', 'reference_blur_kernel',
    'reference_to_semaim', 'rename', 'resize_pos_embed', 'semaim_to_backbone',
    'semaim_to_reference', 'state_dict_of', 'strip_prefix', 'sub_dict',
    'timm_vit_to_mm'
]
