"""Offline static checks of the SAM template, with no AWS credentials and no network.

Run with the sam virtualenv's python:  python check_template.py TEMPLATE [STATE_MACHINE]

1. Translate the template with aws-sam-translator (the SAM transform CloudFormation itself
   runs), so errors inside AWS::Serverless::* resources surface: local CodeUri folders become
   placeholder S3 locations and DefinitionUri the inlined state machine, as `sam package`
   would do.
2. Lint the translated CloudFormation with cfn-lint for us-east-1 (bad !Ref / !GetAtt, bad
   architectures and runtimes, wrong property types, IAM policy shape).

Exit status 0 when both pass; the findings are printed otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cfnlint.decode import cfn_yaml
import os

from samtranslator.translator.transform import transform

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class NoManagedPolicies:
    """SAM looks managed policy names up through IAM; the template uses ARNs or templates."""

    def load(self):
        return {}


def main() -> int:
    template_path = Path(sys.argv[1])
    asl_path = Path(sys.argv[2]) if len(sys.argv) > 2 else template_path.parent / "statemachine.asl.json"
    template = cfn_yaml.load(str(template_path))
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = f"s3://landfall-artifacts/{name}.zip"
        if res.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            del props["DefinitionUri"]
            props["Definition"] = json.loads(asl_path.read_text())
    # Parameters without defaults get placeholder values, as `sam deploy` asks for them.
    params = {
        k: "placeholder"
        for k, v in template.get("Parameters", {}).items()
        if "Default" not in v
    }
    try:
        translated = transform(json.loads(json.dumps(template)), params, NoManagedPolicies())
    except Exception as e:  # samtranslator raises InvalidDocumentException with the causes
        causes = getattr(e, "causes", None)
        print(f"SAM transform failed: {e}", file=sys.stderr)
        for c in causes or []:
            print(f"  - {c}", file=sys.stderr)
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(translated, f, indent=1)
        out = f.name
    # The inlined definition becomes one Fn::Join element per line, and cfn-lint validates the
    # list recursively: past ~1000 lines Python's default recursion limit stops it.
    lint = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.setrecursionlimit(20000); from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())",
            "--regions",
            "us-east-1",
            "--format",
            "parseable",
            "--",
            out,
        ],
        capture_output=True,
        text=True,
    )
    # cfn-lint exit codes: bit 2 = error, 4 = warning, 8 = informational. Errors and warnings fail.
    if lint.returncode & (2 | 4):
        print(f"cfn-lint on the translated template ({out}):", file=sys.stderr)
        print(lint.stdout + lint.stderr, file=sys.stderr)
        return 1
    print(f"ok: SAM transform and cfn-lint ({len(translated.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
