"""Tests for report.py: the results format, the scorers' agreement, the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import atari57
import dmlab30
import report
import scores
import test_results

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DEEP_MULTITASK = {'network': 'deep', 'core': 'feedforward', 'multitask': True}
_DEEP_LSTM_MULTITASK = {'network': 'deep', 'core': 'lstm', 'multitask': True}


def _run_cli(*args):
  env = dict(os.environ, MPLBACKEND='Agg', TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.run(
      [sys.executable, os.path.join(_REPO, 'report.py')] + list(args),
      cwd=_REPO, env=env, capture_output=True, text=True, timeout=120)


def _table_rows(markdown):
  """{first cell: [cells]} for the level rows and suite rows of the table."""
  rows = {}
  for line in markdown.splitlines():
    if line.startswith('| `') or line.startswith('| **'):
      cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
      rows[cells[0]] = cells
  return rows


def _header(markdown):
  for line in markdown.splitlines():
    if line.startswith('| Level'):
      return [cell.strip() for cell in line.strip().strip('|').split('|')]
  raise AssertionError('no table header')


def _check_png(path):
  assert os.path.exists(path)
  with open(path, 'rb') as f:
    data = f.read()
  assert data[:8] == b'\x89PNG\r\n\x1a\n'
  assert len(data) > 10000
  return data


def _se(values):
  return np.std(values, ddof=1) / np.sqrt(len(values))


# ---------------------------------------------------------------------------
# The writer's helpers (experiment.py calls these).


def test_make_test_results_atari57():
  returns = {'atari/pong': [20.0, 21.0], 'breakout': [30.5]}
  results = test_results.make_test_results('atari57', 'atari', _DEEP_MULTITASK,
                                     200000000, returns)
  assert results['format'] == 'impala-tf/test_results/v1'
  assert results['level_name'] == 'atari57'
  assert results['domain'] == 'atari'
  assert results['frames'] == 200000000
  assert results['agent'] == _DEEP_MULTITASK
  pong = results['levels']['atari/pong']
  assert pong['episode_returns'] == [20.0, 21.0]
  assert pong['mean'] == 20.5
  assert pong['human_normalized_score'] == pytest.approx(
      100 * (20.5 + 20.7) / (14.6 + 20.7))
  assert results['levels']['atari/breakout']['human_normalized_score'] == (
      pytest.approx(100))
  assert results['suite'] == {
      'metric': 'median_human_normalized_score',
      'value': pytest.approx(np.median([pong['human_normalized_score'],
                                        100.0])),
      'num_levels': 2}
  json.dumps(results, allow_nan=False)  # Serialisable as strict JSON.


def test_make_test_results_validates_its_arguments():
  with pytest.raises(ValueError, match='domain'):
    test_results.make_test_results('atari/pong', 'gym', _DEEP_MULTITASK, 0, {})
  with pytest.raises(ValueError, match='Pong'):
    test_results.make_test_results('atari/Pong', 'atari', _DEEP_MULTITASK, 0, {})
  with pytest.raises(ValueError, match='frames'):
    test_results.make_test_results('atari/pong', 'atari', _DEEP_MULTITASK, True, {})
  with pytest.raises(ValueError, match='multitask'):
    test_results.make_test_results('atari/pong', 'atari', {'network': 'deep',
                                                     'core': 'lstm'}, 0, {})
  with pytest.raises(ValueError, match='atari/breakout'):
    test_results.make_test_results('atari/pong', 'atari', _DEEP_MULTITASK, 0,
                             {'breakout': [1.0]})
  with pytest.raises(ValueError, match='finite'):
    test_results.make_test_results('atari/pong', 'atari', _DEEP_MULTITASK, 0,
                             {'pong': [float('nan')]})


def test_suite_summary_agrees_with_the_scorers():
  paper = {level: [row['impala_deep_pbt']]
           for level, row in dmlab30.PAPER_SCORES.items()}
  summary = scores.suite_summary('dmlab', 'dmlab30', paper)
  assert summary['metric'] == 'mean_capped_human_normalized_score'
  assert summary['num_levels'] == 30
  assert summary['value'] == pytest.approx(
      dmlab30.compute_human_normalized_score(paper, per_level_cap=100))
  # Train names are mapped to test names, as in the release.
  by_train = {train: paper[test]
              for train, test in dmlab30.LEVEL_MAPPING.items()}
  assert scores.suite_summary('dmlab', 'dmlab30', by_train) == summary

  games = {'atari/' + game: [atari57.PAPER_SCORES[game][
      'impala_deep_multitask']] for game in atari57.GAMES}
  summary = scores.suite_summary('atari', 'atari57', games)
  assert summary['num_levels'] == 57
  assert round(summary['value'], 1) == 59.7
  games['atari/venture'] = []  # Not evaluated: left out, counted out.
  assert scores.suite_summary('atari', 'atari57', games)['num_levels'] == 56

  assert scores.suite_summary('atari', 'atari/pong', {'pong': [1.0]}) is None
  assert scores.suite_summary('catch', 'catch', {'catch': [1.0]}) is None
  assert scores.suite_summary('dmlab', 'rooms_watermaze',
                              {'rooms_watermaze': [1.0]}) is None


def test_choose_paper_column():
  choose = scores.choose_paper_column
  deep_single = {'network': 'deep', 'core': 'feedforward', 'multitask': False}
  shallow_single = dict(deep_single, network='shallow')
  shallow_multi = dict(shallow_single, multitask=True)
  assert choose('atari', deep_single)[0] == 'impala_deep_experts'
  assert choose('atari', shallow_single)[0] == 'impala_shallow_experts'
  assert choose('atari', _DEEP_MULTITASK)[0] == 'impala_deep_multitask'
  assert choose('atari', shallow_multi)[0] is None
  assert choose('dmlab', _DEEP_LSTM_MULTITASK)[0] == 'impala_deep_pbt'
  assert choose('dmlab', dict(deep_single, core='lstm'))[0] == (
      'impala_experts_deep')
  column, reason = choose('dmlab', shallow_multi)
  assert column is None and 'deep' in reason
  column, reason = choose('catch', deep_single)
  assert column is None and 'catch' in reason


# ---------------------------------------------------------------------------
# The CLI: synthetic results files round-trip into comparison.md and .png.


def _write(tmp_path, name, results):
  path = str(tmp_path / name / 'test_results.json')
  test_results.write_test_results(path, results)
  return path


def test_cli_atari57_two_runs_with_missing_levels(tmp_path):
  pong_a, pong_b = [10.0, 12.0, 14.0], [16.0, 18.0]
  runs = []
  for run, pong in (('a', pong_a), ('b', pong_b)):
    returns = {}
    for game in atari57.GAMES:
      paper = atari57.PAPER_SCORES[game]['impala_deep_multitask']
      returns['atari/' + game] = [paper - 1.0, paper + 1.0]
    returns['atari/pong'] = pong
    del returns['atari/venture']  # Missing from both runs.
    if run == 'b':
      returns['atari/zaxxon'] = []  # Run b has no episodes of zaxxon.
    runs.append(_write(tmp_path, run, test_results.make_test_results(
        'atari57', 'atari', _DEEP_MULTITASK, 200000000, returns)))
  out = tmp_path / 'out'
  # The second run is given by its log dir.
  proc = _run_cli('--results=%s,%s' % (runs[0], os.path.dirname(runs[1])),
                  '--output=%s' % out)
  assert proc.returncode == 0, proc.stderr
  markdown = (out / 'comparison.md').read_text()
  header = _header(markdown)
  assert header == ['Level', 'Episodes', 'Ours: mean ± s.e. (episodes)',
                    '± s.e. (across runs)', 'Ours HNS %', 'Paper',
                    'Paper HNS %', 'Ours / paper']
  rows = _table_rows(markdown)
  level_rows = [key for key in rows if key.startswith('`')]
  assert level_rows == ['`atari/%s`' % game for game in atari57.GAMES]

  pong = rows['`atari/pong`']
  mean = np.mean([np.mean(pong_a), np.mean(pong_b)])  # 14.5
  se_episodes = np.sqrt(_se(pong_a)**2 + _se(pong_b)**2) / 2
  se_runs = _se([np.mean(pong_a), np.mean(pong_b)])  # 2.5
  assert pong[1] == '5 (2 runs)'
  assert pong[2] == '%.1f ± %.2f' % (mean, se_episodes) == '14.5 ± 0.76'
  assert pong[3] == '± %.2f' % se_runs == '± 2.50'
  assert pong[4] == '%.1f' % atari57.human_normalized_score('pong', mean)
  assert pong[5] == '8.58'
  assert pong[6] == '%.1f' % atari57.human_normalized_score('pong', 8.58)
  assert pong[7] == '%.2f' % (mean / 8.58)

  assert 'missing' in rows['`atari/venture`'][2]
  assert rows['`atari/venture`'][5] == '1.00'  # Paper still shown.
  assert 'missing in 1' in rows['`atari/zaxxon`'][1]
  assert rows['`atari/zaxxon`'][1].startswith('2 (1 run')
  assert 'atari/venture' in markdown.split('## Notes')[1]

  suite = [cells for key, cells in rows.items() if 'median HNS' in key]
  assert len(suite) == 1
  assert '56 of 57 games evaluated' in suite[0][0]
  evaluated = {game: np.mean(atari57.PAPER_SCORES[game][
      'impala_deep_multitask']) for game in atari57.GAMES
               if game != 'venture'}
  evaluated['pong'] = mean
  expected = np.median(list(atari57.compute_human_normalized_scores(
      evaluated).values()))
  assert suite[0][4] == '**%.1f**' % expected
  assert 'printed 59.7' in suite[0][6]
  assert any('mean HNS' in key for key in rows)

  png = _check_png(str(out / 'comparison.png'))
  assert png != b''


def _dmlab30_paper_report(tmp_path, agent):
  """comparison.md of a dmlab30 run of `agent` that scored Table B.1's
  IMPALA returns (3 episodes a level), through the CLI."""
  returns = {level: [row['impala_deep_pbt']] * 3
             for level, row in dmlab30.PAPER_SCORES.items()}
  path = _write(tmp_path, 'run', test_results.make_test_results(
      'dmlab30', 'dmlab', agent, 10**10, returns))
  proc = _run_cli('--results', path, '--output', str(tmp_path / 'out'))
  assert proc.returncode == 0, proc.stderr
  return (tmp_path / 'out' / 'comparison.md').read_text()


def test_cli_dmlab30_paper_scores_round_trip(tmp_path):
  markdown = _dmlab30_paper_report(tmp_path, _DEEP_LSTM_MULTITASK)
  rows = _table_rows(markdown)
  assert [k for k in rows if k.startswith('`')] == [
      '`%s`' % level for level in dmlab30.TEST_LEVELS]
  assert '± s.e. (across runs)' not in _header(markdown)
  watermaze = rows['`rooms_watermaze`']
  assert watermaze[1] == '3'
  assert watermaze[2] == '31.1 ± 0.00'
  assert watermaze[4] == '31.1' and watermaze[6] == '1.00'
  (suite,) = [cells for key, cells in rows.items() if 'mean capped' in key]
  assert '30 of 30 levels evaluated' in suite[0]
  # The paper's scores through the release's h/r: 50.06%, printed 49.4%.
  assert suite[3] == '**50.1**'
  assert suite[5] == '50.1 (printed 49.4)'
  assert suite[6] == '1.00'
  assert 'Lasertag' in markdown
  _check_png(str(tmp_path / 'out' / 'comparison.png'))


def _main(*args):
  """report.py in this process: its flags parsed from `args`, then main."""
  report.FLAGS.unparse_flags()
  return report.main(report.FLAGS(['report.py'] + list(args)))


def test_main_bad_command_lines_are_one_line_errors(tmp_path, capsys):
  path = _write(tmp_path, 'catch', test_results.make_test_results(
      'catch', 'catch', _DEEP_MULTITASK, 1, {'catch': [1.0]}))
  for args, message in (
      ((), 'exactly one of --results and --curves'),
      (('--results=' + path, '--curves=' + str(tmp_path)), 'exactly one'),
      (('--results=' + path,), '--output is required'),
      (('--results=' + path, '--output=o', 'extra'), 'unexpected arguments')):
    assert _main(*args) == 2
    error = capsys.readouterr().err
    assert error.startswith('report.py: error: ') and message in error
    assert len(error.strip().splitlines()) == 1
  assert _main('--results=%s' % path, '--output=%s' % (tmp_path / 'out')) == 0
  assert (tmp_path / 'out' / 'comparison.md').exists()


def test_cli_bad_flag_is_one_line_and_helpfull_lists_the_flags(tmp_path):
  proc = _run_cli('--network=huge', '--output', str(tmp_path))
  assert proc.returncode == 2
  assert proc.stderr.startswith('report.py: error: ') and 'network' in (
      proc.stderr)
  assert len(proc.stderr.strip().splitlines()) == 1
  proc = _run_cli('--helpfull')
  assert proc.returncode == 0, proc.stderr
  for flag in ('results', 'curves', 'output', 'thresholds', 'network',
               'paper_column'):
    assert '--%s' % flag in proc.stdout


def test_cli_rejects_files_that_are_not_ours(tmp_path):
  other = tmp_path / 'metrics.json'
  other.write_text(json.dumps({'episode_returns': [1, 2, 3]}))
  proc = _run_cli('--results', str(other), '--output', str(tmp_path / 'o'))
  assert proc.returncode == 2
  assert 'not an impala-tf test results file' in proc.stderr
  assert str(other) in proc.stderr
  assert not (tmp_path / 'o' / 'comparison.md').exists()

  csv = tmp_path / 'scores.csv'
  csv.write_text('level,score\npong,20\n')
  proc = _run_cli('--results', str(csv), '--output', str(tmp_path / 'o'))
  assert proc.returncode == 2
  assert 'not valid JSON' in proc.stderr


# ---------------------------------------------------------------------------
# In-process checks of loading and the comparison.


def _load_error(tmp_path, data):
  path = tmp_path / 'bad.json'
  path.write_text(json.dumps(data))
  with pytest.raises(test_results.ResultsError) as info:
    test_results.load_results(str(path))
  assert str(path) in str(info.value)
  return str(info.value)


def test_load_results_errors_name_the_problem(tmp_path):
  good = test_results.make_test_results('atari/pong', 'atari', dict(
      _DEEP_MULTITASK, multitask=False), 10, {'pong': [1.0]})
  assert 'format' in _load_error(tmp_path, dict(good, format='other/v2'))
  assert 'domain' in _load_error(tmp_path, dict(good, domain='dmlab'))
  bad_levels = dict(good, levels={'atari/breakout': {'episode_returns': [1]}})
  assert 'not evaluated by level_name' in _load_error(tmp_path, bad_levels)
  bad_returns = dict(good, levels={'atari/pong': {'episode_returns': ['a']}})
  assert 'finite numbers' in _load_error(tmp_path, bad_returns)
  no_levels = {k: v for k, v in good.items() if k != 'levels'}
  assert "missing field 'levels'" in _load_error(tmp_path, no_levels)
  with pytest.raises(test_results.ResultsError, match='cannot read'):
    test_results.load_results(str(tmp_path / 'nope.json'))


def test_runs_of_different_agents_are_not_mixed(tmp_path):
  a = _write(tmp_path, 'a', test_results.make_test_results(
      'atari/pong', 'atari', dict(_DEEP_MULTITASK, multitask=False), 1,
      {'pong': [1.0]}))
  b = _write(tmp_path, 'b', test_results.make_test_results(
      'atari/pong', 'atari', {'network': 'shallow', 'core': 'feedforward',
                              'multitask': False}, 1, {'pong': [2.0]}))
  with pytest.raises(test_results.ResultsError, match='disagree on agent'):
    report.write_report([a, b], str(tmp_path / 'out'))


def test_single_games_and_paper_column_override(tmp_path):
  agent = {'network': 'shallow', 'core': 'feedforward', 'multitask': False}
  paths = [_write(tmp_path, game, test_results.make_test_results(
      'atari/' + game, 'atari', agent, 1, {game: [10.0, 30.0]}))
           for game in ('pong', 'breakout')]
  runs = [test_results.load_results(p) for p in paths]
  comparison = report.build_comparison(runs)
  assert comparison.paper_column == 'impala_shallow_experts'
  assert [row.key for row in comparison.rows] == ['atari/breakout',
                                                  'atari/pong']
  assert comparison.rows[0].paper == 640.43
  assert comparison.suite.num_levels == 2
  assert comparison.suite.suite_size == 57
  override = report.build_comparison(runs, 'impala_deep_experts')
  assert override.rows[0].paper == 787.34
  none = report.build_comparison(runs, 'none')
  assert none.rows[0].paper is None
  assert 'not published' in report.render_markdown(none)
  with pytest.raises(ValueError, match='impala_deep_pbt'):
    report.build_comparison(runs, 'impala_deep_pbt')


def test_catch_has_no_paper_column_and_plots_returns(tmp_path):
  path = _write(tmp_path, 'catch', test_results.make_test_results(
      'catch', 'catch', {'network': 'shallow', 'core': 'lstm',
                         'multitask': False}, 5000, {'catch': [1.0, -1.0,
                                                               1.0]}))
  with pytest.raises(test_results.ResultsError, match='given twice'):
    report.write_report([path, os.path.dirname(path)], str(tmp_path / 'o'))
  md_path, png_path = report.write_report([path], str(tmp_path / 'out'))
  markdown = open(md_path).read()
  rows = _table_rows(markdown)
  assert rows['`catch`'][2] == '0.33 ± 0.67'
  assert rows['`catch`'][3] == 'not published'
  assert 'no scores for catch' in markdown
  assert 'No suite metric' in markdown
  _check_png(png_path)


def test_single_dmlab_level_uses_experts_column(tmp_path):
  agent = {'network': 'deep', 'core': 'lstm', 'multitask': False}
  path = _write(tmp_path, 'w', test_results.make_test_results(
      'contributed/dmlab30/rooms_watermaze', 'dmlab', agent, 10**9,
      {'rooms_watermaze': [20.0, 40.0]}))
  comparison = report.build_comparison([test_results.load_results(path)])
  (row,) = comparison.rows
  assert comparison.paper_column == 'impala_experts_deep'
  assert row.key == 'rooms_watermaze' and row.paper == 26.9
  assert row.hns == pytest.approx(dmlab30.human_normalized_score(
      'rooms_watermaze', 30.0))
  assert row.ratio == pytest.approx(30.0 / 26.9)


def test_suite_runs_without_pbt_say_so_for_both_suites(tmp_path):
  def notes(level_name, domain, agent, returns):
    path = _write(tmp_path, '%s_%d' % (domain, len(agent)),
                  test_results.make_test_results(level_name, domain, agent, 1,
                                           returns))
    return report.render_markdown(report.build_comparison(
        [test_results.load_results(path)]))

  pbt_note = 'no population-based training'
  atari = notes('atari57', 'atari', _DEEP_MULTITASK, {'pong': [1.0]})
  assert pbt_note in atari and 'Table G.1' in atari
  dmlab = notes('dmlab30', 'dmlab', _DEEP_LSTM_MULTITASK,
                {'rooms_watermaze': [1.0]})
  assert pbt_note in dmlab and 'IMPALA, deep, PBT' in dmlab
  # A PBT run, and a single game's expert (trained without PBT in the
  # paper too), get no such note.
  assert pbt_note not in notes('atari57', 'atari',
                               dict(_DEEP_MULTITASK, pbt=True),
                               {'pong': [1.0]})
  assert pbt_note not in notes(
      'atari/pong', 'atari', dict(_DEEP_MULTITASK, multitask=False),
      {'pong': [1.0]})


# ---------------------------------------------------------------------------
# The paper's baselines (--agent): A3C's suite figures, batched A2C's none.


def test_a3c_runs_compare_with_the_papers_suite_figures(tmp_path):
  agent = {'network': 'shallow', 'core': 'feedforward', 'multitask': False,
           'architecture': 'a3c'}
  paths = [_write(tmp_path, game, test_results.make_test_results(
      'atari/' + game, 'atari', agent, 1, {game: [10.0, 30.0]}))
           for game in ('pong', 'breakout')]
  comparison = report.build_comparison(
      [test_results.load_results(p) for p in paths])
  assert comparison.paper_column is None
  assert 'no per-level A3C scores' in comparison.paper_note
  assert all(row.paper is None for row in comparison.rows)
  assert comparison.suite.paper_mean_printed == 285.9  # Table 4.
  assert comparison.suite.paper_printed is None  # Table 4's median: none.
  markdown = report.render_markdown(comparison)
  rows = _table_rows(markdown)
  assert rows['`atari/pong`'][-3] == 'not published'
  (mean,) = [cells for key, cells in rows.items() if 'mean HNS' in key]
  assert mean[6] == 'printed 285.9'  # Two runs: an extra column.
  assert 'the paper gives no per-level A3C scores' in markdown
  assert 'Table 4 "A3C, shallow, experts": 285.9%' in markdown
  # A deep network: Table 4's deep experts.
  deep = dict(agent, network='deep')
  assert scores.baseline_suite_reference('atari', deep)[2] == 503.6

  # DMLab-30, deep, multi-task: Table 3's 23.8% in the suite row.
  dmlab_agent = {'network': 'deep', 'core': 'lstm', 'multitask': True,
                 'architecture': 'a3c'}
  markdown = _dmlab30_paper_report(tmp_path / 'dmlab', dmlab_agent)
  (suite,) = [cells for key, cells in _table_rows(markdown).items()
              if 'mean capped' in key]
  assert suite[3] == '**50.1**' and suite[5] == 'printed 23.8'
  assert 'Table 3 "A3C, deep": 23.8%' in markdown


@pytest.mark.parametrize('architecture', ['a2c_sync_step', 'a2c_sync_traj'])
def test_batched_a2c_has_no_published_scores(tmp_path, architecture):
  agent = {'network': 'deep', 'core': 'feedforward', 'multitask': False,
           'architecture': architecture}
  path = _write(tmp_path, 'pong', test_results.make_test_results(
      'atari/pong', 'atari', agent, 1, {'pong': [10.0, 12.0]}))
  comparison = report.build_comparison([test_results.load_results(path)])
  assert comparison.paper_column is None
  assert 'no scores for batched A2C' in comparison.paper_note
  markdown = report.render_markdown(comparison)
  assert 'the paper publishes no scores**' in markdown
  assert 'not published' in markdown
  # Old files (no "architecture") still choose IMPALA's column.
  old = dict(agent)
  del old['architecture']
  assert scores.choose_paper_column('atari', old)[0] == 'impala_deep_experts'
