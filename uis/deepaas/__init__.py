"""DEEPaaS models deployed as OSCAR services (AI4EOSC, ai4os/ai4-papi ``etc/oscar.yaml``).

Such a service's script takes a JSON object of the model's predict arguments,
plus ``"oscar-files": [{"key", "file_format", "data": <base64>}]`` for file
arguments, and runs ``deepaas-cli predict --<k> <v> ...``; a sync call answers
the text log whose last lines hold the prediction.

- ``arguments``: the predict arguments (``PredictArg``) from the
  ``oscar-gateway/deepaas-schema`` annotation or from the model's ``--help``;
- ``probe``: asking the service for its help once per definition hash;
- ``answer``: the request body, and the prediction or the model's error out of the log.
"""

from uis.deepaas.answer import model_error, prediction, request_body
from uis.deepaas.arguments import FILE_KINDS, PredictArg, arg_schema, from_help, from_schema
from uis.deepaas.probe import PredictArgsCache, is_deepaas

__all__ = [
    "FILE_KINDS",
    "PredictArg",
    "PredictArgsCache",
    "arg_schema",
    "from_help",
    "from_schema",
    "is_deepaas",
    "model_error",
    "prediction",
    "request_body",
]
