"""docs/reproduction.md's tables re-render, number for number, from the
cells committed under docs/reproduction_cells/."""
import glob
import json
import os.path as osp

from semaim_mm.reproduce.cells import BLOCK, CELLS_ROOT, render_doc

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(ROOT, 'docs', 'reproduction.md')


def test_committed_report_rerenders_from_committed_cells():
    with open(DOC) as f:
        text = f.read()
    assert len(BLOCK.findall(text)) >= 5
    rendered, changed = render_doc(DOC)
    assert changed == [] and rendered == text


def test_a_changed_number_is_caught(tmp_path):
    with open(DOC) as f:
        text = f.read()
    edited = tmp_path / 'doc.md'
    edited.write_text(text.replace('73.34 ± 0.78', '73.43 ± 0.78', 1))
    _, changed = render_doc(str(edited))
    assert changed


def test_every_committed_cell_names_its_commit():
    cells = glob.glob(osp.join(CELLS_ROOT, '*', '*.json'))
    assert cells
    for path in cells:
        with open(path) as f:
            cell = json.load(f)
        assert cell['git'] and cell['hash'] == osp.basename(path)[:-5]
