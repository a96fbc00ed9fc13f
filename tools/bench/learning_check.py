"""Does SFT learn on this model? A small task the base does not know the format of — a country, answered as
"Capital: X. Continent: Y." — trained with `tessera train --method sft` on 48 rows and checked on 12 held-out
countries: the held-out NLL per answer token after training against after the first step (the base, nearly: the
first step runs at the warmup's smallest learning rate). Prints both and their ratio; exits non-zero unless the
loss at least halves.

Usage: learning_check.py TESSERA_BINARY MODEL.gguf [--save DIR] [EXTRA TRAIN ARGS...]
(--save keeps the trained adapter.)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROWS = [
    ("France", "Paris", "Europe"), ("Germany", "Berlin", "Europe"), ("Italy", "Rome", "Europe"),
    ("Spain", "Madrid", "Europe"), ("Portugal", "Lisbon", "Europe"), ("Austria", "Vienna", "Europe"),
    ("Poland", "Warsaw", "Europe"), ("Greece", "Athens", "Europe"), ("Sweden", "Stockholm", "Europe"),
    ("Norway", "Oslo", "Europe"), ("Finland", "Helsinki", "Europe"), ("Denmark", "Copenhagen", "Europe"),
    ("Ireland", "Dublin", "Europe"), ("Hungary", "Budapest", "Europe"), ("Czechia", "Prague", "Europe"),
    ("Belgium", "Brussels", "Europe"), ("Netherlands", "Amsterdam", "Europe"), ("Switzerland", "Bern", "Europe"),
    ("Japan", "Tokyo", "Asia"), ("China", "Beijing", "Asia"), ("India", "New Delhi", "Asia"),
    ("Thailand", "Bangkok", "Asia"), ("Vietnam", "Hanoi", "Asia"), ("Indonesia", "Jakarta", "Asia"),
    ("Philippines", "Manila", "Asia"), ("South Korea", "Seoul", "Asia"), ("Iran", "Tehran", "Asia"),
    ("Iraq", "Baghdad", "Asia"), ("Saudi Arabia", "Riyadh", "Asia"), ("Pakistan", "Islamabad", "Asia"),
    ("Egypt", "Cairo", "Africa"), ("Kenya", "Nairobi", "Africa"), ("Nigeria", "Abuja", "Africa"),
    ("Ethiopia", "Addis Ababa", "Africa"), ("Morocco", "Rabat", "Africa"), ("Ghana", "Accra", "Africa"),
    ("Senegal", "Dakar", "Africa"), ("Algeria", "Algiers", "Africa"), ("Tunisia", "Tunis", "Africa"),
    ("Brazil", "Brasília", "South America"), ("Argentina", "Buenos Aires", "South America"),
    ("Chile", "Santiago", "South America"), ("Peru", "Lima", "South America"), ("Colombia", "Bogotá", "South America"),
    ("Venezuela", "Caracas", "South America"), ("Ecuador", "Quito", "South America"),
    ("Canada", "Ottawa", "North America"), ("Mexico", "Mexico City", "North America"),
    ("Cuba", "Havana", "North America"), ("Australia", "Canberra", "Oceania"), ("New Zealand", "Wellington", "Oceania"),
    ("Russia", "Moscow", "Europe"), ("Turkey", "Ankara", "Asia"), ("Ukraine", "Kyiv", "Europe"),
    ("Romania", "Bucharest", "Europe"), ("Bulgaria", "Sofia", "Europe"), ("Serbia", "Belgrade", "Europe"),
    ("Croatia", "Zagreb", "Europe"), ("Jamaica", "Kingston", "North America"), ("Uruguay", "Montevideo", "South America"),
]


def row(country, capital, continent):
    return {"messages": [{"role": "user", "content": f"Country: {country}"},
                         {"role": "assistant", "content": f"Capital: {capital}. Continent: {continent}."}]}


def main():
    tessera, model, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    save = None
    if extra[:1] == ["--save"]:
        save, extra = extra[1], extra[2:]
    train, held_out = ROWS[:48], ROWS[48:]
    with tempfile.TemporaryDirectory() as d:
        for name, rows in (("train.jsonl", train), ("valid.jsonl", held_out)):
            with open(os.path.join(d, name), "w") as f:
                for r in rows:
                    f.write(json.dumps(row(*r)) + "\n")
        cmd = [tessera, "train", "--model", model, "--method", "sft", "--data", os.path.join(d, "train.jsonl"),
               "--validation-data", os.path.join(d, "valid.jsonl"), "--output", os.path.join(d, "out"),
               "--epochs", "4", "--batch-size", "8", "--learning-rate", "1e-3", "--eval-steps", "1", "--json"] + extra
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        if save:
            shutil.copytree(os.path.join(d, "out"), save, dirs_exist_ok=True)
    losses = [e["loss"] for e in map(json.loads, out.splitlines()) if e.get("event") == "validation"]
    if len(losses) < 2:
        print(out)
        sys.exit("no validation events")
    first, last = losses[0], losses[-1]
    print(f"held-out NLL per answer token: {first:.3f} after the first step, {last:.3f} after training "
          f"({len(losses)} evaluations), ratio {last / first:.2f}")
    sys.exit(0 if last <= first / 2 else 1)


if __name__ == "__main__":
    main()
