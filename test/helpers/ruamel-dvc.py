"""Reference for reg's .dvc writer: dumps and loads pointer texts with ruamel.yaml exactly as DVC does.

DVC writes .dvc files with dvc/utils/serialize/_yaml.py `_get_yaml()` (round-trip YAML() with
default_flow_style=False, everything else ruamel's default) and reads them with YAML(typ="safe").
DVC updates an existing .dvc file by a round trip: load with YAML(typ="rt"), change values, dump
with the same writer.
Input on stdin: {"dump": [{"md5":…, "size":…, "hash":…, "path":…}, …], "load": [text, …],
"update": [{"text": …, "md5": …, "size": …}, …]}.
Output: {"version": ruamel version, "dumped": [text, …], "loaded": [{"type": name, "value": str}, …],
"updated": [text, …]}.
"""
import io
import json
import sys
from collections import OrderedDict

import ruamel.yaml
from ruamel.yaml import YAML


def dvc_writer():
    yaml = YAML()
    yaml.default_flow_style = False
    representer = yaml.Representer
    representer.add_representer(OrderedDict, representer.represent_dict)
    return yaml


def dump(out):
    stream = io.StringIO()
    dvc_writer().dump({"outs": [out]}, stream)
    return stream.getvalue()


def load(text):
    data = YAML(typ="safe").load(text)
    value = data["outs"][0]["path"]
    return {"type": type(value).__name__, "value": str(value)}


def update(request):
    data = YAML().load(request["text"])
    out = data["outs"][0]
    out["md5"] = request["md5"]
    out["size"] = request["size"]
    stream = io.StringIO()
    dvc_writer().dump(data, stream)
    return stream.getvalue()


def main():
    request = json.load(sys.stdin)
    result = {
        "version": ruamel.yaml.__version__,
        "dumped": [dump(o) for o in request.get("dump", [])],
        "loaded": [load(t) for t in request.get("load", [])],
        "updated": [update(u) for u in request.get("update", [])],
    }
    json.dump(result, sys.stdout)


main()
