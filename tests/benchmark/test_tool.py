"""tools/benchmark.py end to end on CPU with the tiny Fashion-MNIST config
(the peak-memory subprocess test is slow: it imports the stack afresh)."""
import importlib.util
import json
import os.path as osp

import pytest

CONFIG = 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py'
ROW_FIELDS = {'path', 'step_times_s', 'ms_per_step', 'images_per_s',
              'losses', 'time_split_ms', 'flops_per_step',
              'achieved_flops_per_s', 'mfu', 'peak_memory_bytes',
              'peak_memory_method'}
TOP_FIELDS = {'config', 'device', 'device_name', 'cpu_count',
              'torch_threads', 'torch', 'batch', 'img_size', 'steps',
              'warmup', 'amp', 'compile', 'grad_checkpointing',
              'malloc_keep_freed', 'sgemm_size', 'sgemm_flops_per_s',
              'sgemm_samples', 'peak_flops_per_s', 'peak_name',
              'loadavg_start', 'loadavg_end', 'bench_wall_s', 'results',
              'ratios'}


@pytest.fixture
def tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'semaim_benchmark_tool', osp.join(repo_root, 'tools', 'benchmark.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_both_paths_and_mae_json_has_every_field(tool, repo_root, tmp_path,
                                                 capsys):
    out = tmp_path / 'bench.json'
    tool.main([osp.join(repo_root, CONFIG), '--batch', '2', '--steps', '2',
               '--warmup', '0', '--device', 'cpu', '--threads', '1', '--mae',
               '--no-memory', '--sgemm-size', '256', '--json', str(out)])
    data = json.loads(out.read_text())
    assert TOP_FIELDS <= set(data)
    assert set(data['results']) == {'fast', 'reference', 'mae'}
    for name, row in data['results'].items():
        assert ROW_FIELDS <= set(row), name
        assert len(row['step_times_s']) == 2 and row['images_per_s'] > 0
    for name in ('fast', 'reference'):
        row = data['results'][name]
        assert set(row['time_split_ms']) == {
            'similarity', 'targets', 'encoder', 'decoder_head', 'backward',
            'optimizer'}
        assert row['flops_per_step']['total'] > 0 and 0 < row['mfu']
    mae = data['results']['mae']
    assert set(mae['flops_per_step']) == {'encoder', 'decoder', 'backward',
                                          'total'}
    assert 0 < mae['mfu'] and mae['flops_per_step']['total'] > 0
    assert {'fast_vs_reference_images_per_s',
            'fast_vs_reference_paired_median',
            'fast_over_mae_step_time',
            'fast_decoder_head_vs_encoder_flop_rate',
            'reference_decoder_head_vs_encoder_flop_rate'} <= set(
                data['ratios'])
    assert 'mae_decoder_head_vs_encoder_flop_rate' not in data['ratios']
    table = capsys.readouterr().out
    assert 'images/s' in table and 'MFU' in table


@pytest.mark.slow
def test_cpu_peak_memory_subprocess(tool, repo_root, tmp_path):
    out = tmp_path / 'bench.json'
    tool.main([osp.join(repo_root, CONFIG), '--path', 'fast', '--batch', '2',
               '--steps', '1', '--warmup', '0', '--threads', '1',
               '--mem-steps', '1', '--sgemm-size', '256', '--json', str(out)])
    row = json.loads(out.read_text())['results']['fast']
    assert row['peak_memory_bytes'] > 0
    assert 'RSS' in row['peak_memory_method']


def test_data_benchmark_runs(repo_root, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'semaim_benchmark_data',
        osp.join(repo_root, 'tools', 'benchmark_data.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(['--num-images', '3', '--width', '100', '--height', '80',
                    '--batch', '2', '--repeats', '1',
                    '--gpu-images-per-s', '100',
                    '--json', str(tmp_path / 'd.json')])
    assert out['images_per_s_per_worker'] > 0
    assert out['workers_needed_per_gpu'] > 0


def test_mae_from_its_config_is_the_projects_mae(tool, repo_root, tmp_path):
    """``--mae CONFIG`` times that config's MAE (the tiny 2-block decoder),
    not MAE's standard 8-block stand-in."""
    out = tmp_path / 'bench.json'
    mae_cfg = osp.join(repo_root, 'configs/pretrain/'
                       'mae_vit-tiny-p4_fashion-mnist.py')
    tool.main([osp.join(repo_root, CONFIG), '--path', 'fast', '--batch', '2',
               '--steps', '1', '--warmup', '0', '--device', 'cpu',
               '--threads', '1', '--mae', mae_cfg, '--no-memory',
               '--sgemm-size', '256', '--json', str(out)])
    data = json.loads(out.read_text())
    standard = tool.flops.mae_step_flops(49, 48, 128, 512, 6, 512, 2048, 8)
    project = tool.flops.mae_step_flops(49, 48, 128, 512, 6, 128, 512, 2)
    per_image = {k: v / 2 for k, v in
                 data['results']['mae']['flops_per_step'].items()}
    assert per_image == project != standard
    with pytest.raises(ValueError, match='not an MAE'):
        tool.bm.config_mae(osp.join(repo_root, CONFIG), 28)


def test_end_to_end_rates_side_by_side(tool, repo_root, tmp_path):
    """``--end-to-end`` trains the config through the Runner (real data
    loader and hooks) with bare-step and sgemm probes interleaved; the MFU
    figures are the analytic FLOPs over the probes' sgemm rate."""
    out = tmp_path / 'e2e.json'
    data = tool.main([
        osp.join(repo_root, 'configs/pretrain/'
                 'mae_vit-tiny-p4_fashion-mnist.py'),
        '--end-to-end', '--steps', '2', '--warmup', '1', '--probe-every',
        '1', '--threads', '1', '--sgemm-size', '256', '--json', str(out),
        '--cfg-options', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'])
    assert json.loads(out.read_text())['model'] == 'MAE'
    assert data['batch'] == 4 and tuple(data['img_hw']) == (28, 28)
    assert len(data['iter_s']) == len(data['data_s']) == 2
    assert data['probes'] == len(data['bare_s']) == len(
        data['sgemm_samples']) == 2
    assert 0 <= data['data_wait_fraction'] < 1
    flops = data['flops_per_image']['total'] * 4
    assert data['bare_step_mfu'] == pytest.approx(
        flops / tool.median(data['bare_s']) / data['sgemm_flops_per_s'])
    assert data['end_to_end_vs_bare_step'] == pytest.approx(
        tool.median(data['bare_s']) / tool.median(data['iter_s']))
