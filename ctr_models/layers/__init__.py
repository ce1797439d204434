"""All ctr_models layers, and `custom_objects` for keras load_model."""
from . import (activation, core, embedding, field_interaction, interaction, multitask,
               normalization, pooling, recurrent, sequence, utils)
from .activation import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .field_interaction import *  # noqa: F401,F403
from .interaction import *  # noqa: F401,F403
from .multitask import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .sequence import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403

_MODULES = (activation, core, embedding, field_interaction, interaction, multitask, normalization,
            pooling, recurrent, sequence, utils)

custom_objects = {name: getattr(module, name) for module in _MODULES for name in module.__all__
                  if isinstance(getattr(module, name), type)}

__all__ = sorted(custom_objects) + ["custom_objects"]
