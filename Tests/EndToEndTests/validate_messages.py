"""Validates captured messages against docs/schemas: argv = schema file, then JSON files."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
bad = 0
for path in sys.argv[2:]:
    for line in open(path):
        if not line.strip():
            continue
        message = json.loads(line)
        for error in validator.iter_errors(message):
            bad += 1
            print(f"{path}: {error.message} in {line.strip()}")
print(f"checked against {sys.argv[1]}: {bad} errors")
sys.exit(1 if bad else 0)
