"""The docs' scenario x scheduler tables come from a comparison.csv (bondlab/report/crosstab.py)."""

import pandas as pd

from bondlab.report.crosstab import main, markdown


def rows(seeds_per_scenario: int) -> pd.DataFrame:
    out = []
    for scenario, base in (("b-scenario", 0.5), ("a-scenario", 0.9)):
        for scheduler, step in (("rr", 0.0), ("dwrr", 0.1)):
            for k in range(seeds_per_scenario):
                out.append(
                    {
                        "scenario": scenario,
                        "scheduler": scheduler,
                        "seed": 7 + k,
                        "decodable_ratio": base + step,
                        "on_time_ratio": base + step + 0.02 * k,
                        "goodput_bps": (base + step) * 1e7,
                    }
                )
    return pd.DataFrame(out)


def test_cells_hold_means_over_seeds_in_the_asked_order_with_a_mean_row() -> None:
    text = markdown(rows(2))
    lines = text.splitlines()
    assert lines[0].startswith("Decodable / on-time / goodput (Mbps)") and "means over seeds 7, 8" in lines[0]
    assert lines[2] == "| scenario | rr | dwrr |"  # the order the schedulers came in, not sorted
    assert lines[4] == "| a-scenario | 0.90/0.91/9.0 | 1.00/1.01/10.0 |"  # on time: mean of 0.90, 0.92
    assert lines[5] == "| b-scenario | 0.50/0.51/5.0 | 0.60/0.61/6.0 |"
    assert lines[6] == "| **mean** | 0.70/0.71/7.0 | 0.80/0.81/8.0 |"


def test_one_seed_each_is_said_and_a_bad_file_is_one_line(tmp_path, capsys) -> None:
    assert "one seed each (the scenario's own)" in markdown(rows(1))
    bad = tmp_path / "comparison.csv"
    bad.write_text("scenario,seed\nx,1\n")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}:")
