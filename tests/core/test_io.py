"""hcxai.core.io.atomic_output: a killed job's temp file is removed by the next writer of that
output."""

from hcxai.core.io import atomic_output


def test_a_stale_temp_file_of_the_same_output_is_removed_and_others_kept(tmp_path):
    stale = tmp_path / ".table.tmp-999999.csv"  # the name a killed writer leaves
    other = tmp_path / ".other.tmp-999999.csv"  # another output's: not ours to remove
    stale.write_text("half a table")
    other.write_text("half a table")
    with atomic_output(tmp_path / "table.csv") as tmp:
        tmp.write_text("a,b\n1,2\n")
    assert (tmp_path / "table.csv").read_text() == "a,b\n1,2\n"
    assert not stale.exists()
    assert other.exists()
