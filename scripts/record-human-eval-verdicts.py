"""Records the verdicts of openai/human-eval itself on a sample file, with their provenance, as the reference that
test/human-eval-verdicts.test.ts holds mceval's sandbox to.

    python3 scripts/record-human-eval-verdicts.py --human-eval DIR --problems P.jsonl --samples S.jsonl --out OUT.json

DIR holds the `human_eval` package of a human-eval checkout with its `exec(check_program, exec_globals)` line
uncommented (the repository ships it commented out). Nothing of human-eval is copied into mceval: this script only
imports it and runs `evaluate_functional_correctness` with its defaults (timeout 3.0 s, 4 workers). The output keeps
each sample's task_id, index, case note and human-eval's `result` and `passed`, never the completion text (so verdicts
on data mceval does not ship can be stored).
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--human-eval", required=True, help="folder that holds the human_eval package")
    parser.add_argument("--problems", required=True)
    parser.add_argument("--samples", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--source", default="", help="where the human_eval files came from (repository @ commit)")
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.human_eval))
    from human_eval.evaluation import evaluate_functional_correctness  # noqa: E402
    import human_eval.execution  # noqa: E402

    package = os.path.dirname(human_eval.execution.__file__)
    with tempfile.TemporaryDirectory() as scratch:
        samples = os.path.join(scratch, "samples.jsonl")
        shutil.copyfile(args.samples, samples)
        pass_at_k = evaluate_functional_correctness(samples, k=[1], problem_file=os.path.abspath(args.problems))
        with open(samples + "_results.jsonl") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]

    index = {}
    results = []
    for row in rows:
        position = index.get(row["task_id"], 0)
        index[row["task_id"]] = position + 1
        entry = {"task_id": row["task_id"], "index": position}
        if "case" in row:
            entry["case"] = row["case"]
        entry.update(result=row["result"], passed=row["passed"])
        results.append(entry)

    provenance = {
        "tool": "openai/human-eval evaluate_functional_correctness (timeout 3.0, n_workers 4)",
        "source": args.source,
        "files": {name: sha256(os.path.join(package, name)) for name in ("execution.py", "evaluation.py", "data.py")},
        "problems": {"file": os.path.basename(args.problems), "sha256": sha256(args.problems)},
        "samples": {"file": os.path.basename(args.samples), "sha256": sha256(args.samples)},
        "python": platform.python_version(),
        "numpy": __import__("numpy").__version__,
        "platform": platform.platform(),
        "recorded": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["python3"] + sys.argv),
    }
    with open(args.out, "w") as handle:
        json.dump({"provenance": provenance, "pass_at_k": {k: float(v) for k, v in pass_at_k.items()},
                   "results": results}, handle, indent=1)
        handle.write("\n")
    print("%d verdicts -> %s" % (len(results), args.out))


if __name__ == "__main__":
    main()
