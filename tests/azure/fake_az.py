"""A fake ``az`` for scripts/setup-azure-environment.sh: records every call, answers from a JSON state file.

Resources exist when the state says so (``show`` exits 3 with ResourceNotFound otherwise, as az does);
``create`` adds them; role assignments are counted for ``list --query length(@)``. Run as
``python fake_az.py ARGS`` through a wrapper named ``az`` with ``FAKE_AZ_STATE`` pointing at the state file.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

MULTI = ("--route-parameters", "--query-parameters")


def _parse(argv: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    words: list[str] = []
    opts: dict[str, list[str]] = {}
    i = 0
    while i < len(argv) and not argv[i].startswith("--"):
        words.append(argv[i])
        i += 1
    while i < len(argv):
        key = argv[i]
        values = []
        i += 1
        while i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
            if key not in MULTI:
                break
        opts[key] = values
    return words, opts


def main(argv: list[str]) -> int:
    state_file = Path(os.environ["FAKE_AZ_STATE"])
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    resources = state.setdefault("resources", {})
    roles = state.setdefault("roles", [])
    state.setdefault("calls", []).append(argv)
    words, opts = _parse(argv)
    one = {k: (v[0] if v else "") for k, v in opts.items()}
    query = one.get("--query", "")
    out, code = "", 0
    verb, kind = words[-1], " ".join(words[:-1])
    key = f"{kind}:{one.get('--name', '')}"
    if kind == "ad sp" and verb == "show":
        out = "00000000-0000-0000-0000-0000000000aa"
    elif kind == "storage fs" and verb == "exists":
        out = "true" if key in resources else "false"
    elif kind in ("role assignment", "synapse role assignment") and verb in ("list", "create"):
        assignee = one.get("--assignee") or one.get("--assignee-object-id", "")
        entry = [kind, one.get("--role", ""), one.get("--scope", ""), assignee]
        if verb == "list":
            out = str(sum(1 for r in roles if r == entry))
        else:
            roles.append(entry)
    elif kind == "devops" and verb == "invoke":
        area, method = one.get("--area", ""), one.get("--http-method", "")
        if area == "distributedtask" and method == "GET":
            out = str(resources.get("environment", {}).get("id", ""))
        elif area == "distributedtask" and method == "POST":
            resources["environment"] = {"id": 7}
            out = "7"
        elif method == "GET":
            out = str(len(state.setdefault("checks", [])))
        else:
            state.setdefault("checks", []).append(json.loads(Path(one["--in-file"]).read_text()))
    elif verb == "show":
        if key not in resources:
            sys.stderr.write(f"ERROR: (ResourceNotFound) {key} was not found.\n")
            code = 3
        elif query == "id":
            out = f"/subscriptions/s/resourceGroups/rg/providers/x/{one.get('--name')}"
        elif query:
            value = resources[key].get(query, "")
            out = "\n".join(map(str, value)) if isinstance(value, list) else str(value).lower() \
                if isinstance(value, bool) else str(value)
    elif verb == "create":
        defaults = {"storage account": {"isHnsEnabled": "--hns" in opts and one["--hns"] == "true"},
                    "synapse spark pool": {"sparkVersion": one.get("--spark-version", "")},
                    "synapse workspace firewall-rule": {
                        "[startIpAddress, endIpAddress]": [one.get("--start-ip-address"), one.get("--end-ip-address")]}}
        resources[key] = defaults.get(kind, {})
    elif verb == "update":
        resources[key] = {"[startIpAddress, endIpAddress]": [one.get("--start-ip-address"),
                                                             one.get("--end-ip-address")]}
    else:
        sys.stderr.write(f"fake az: {' '.join(argv)} is not modelled\n")
        code = 2
    state_file.write_text(json.dumps(state))
    if out:
        print(out)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
