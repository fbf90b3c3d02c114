#!/usr/bin/env python3
"""Validates WasmPlugin manifests against Istio's WasmPlugin CRD schema
(vendored under ../shared/vendor/istio), and proves the check can fail:
each manifest with its `phase` replaced by a bogus value must be refused.

usage: check.py CRD.yaml MANIFEST.yaml...
"""
import copy
import json
import sys

import jsonschema
import yaml


def schema_from_crd(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    crd = next(d for d in docs if d.get("kind") == "CustomResourceDefinition" and d["spec"]["names"]["kind"] == "WasmPlugin")
    versions = crd["spec"]["versions"]
    v = next(v for v in versions if v["name"] == "v1alpha1")
    return v["schema"]["openAPIV3Schema"]


def main():
    crd, manifests = sys.argv[1], sys.argv[2:]
    schema = schema_from_crd(crd)
    validator = jsonschema.Draft7Validator(schema)
    failed = False
    for m in manifests:
        with open(m) as f:
            doc = yaml.safe_load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        for e in errors:
            print(f"{m}: {'/'.join(map(str, e.path))}: {e.message}")
            failed = True
        if not errors:
            print(f"{m}: valid WasmPlugin")
        bad = copy.deepcopy(doc)
        bad["spec"]["phase"] = "BEFORE_EVERYTHING"
        if not list(validator.iter_errors(bad)):
            print(f"{m}: the schema check accepted a bogus phase; it proves nothing")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
