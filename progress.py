# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Training progress: the console, TensorBoard and `<logdir>/progress.csv`.

Before the first step the learner prints the run's configuration
(`describe_run`). Every `log_interval_secs` it reports frames, the share of
the frame budget done and the time left at the recent rate, frames/s,
learner steps/s, the losses, the learning rate, the mean return of the last
100 games per level and, for suites, the human-normalised suite score; and
where the time goes (bottleneck.py), with a one-line diagnosis every
`diagnosis_interval_secs` when one side is clearly the bottleneck. On the
console suites show only the suite score and how many levels have finished
episodes; TensorBoard and progress.csv have every level.
"""

import collections
import csv
import io
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

import bottleneck
import files
import scores

# The ETA is taken from the frame rate over about this many seconds.
ETA_WINDOW_SECS = 60.


# describe_run's words for the paper's baselines (--agent, Table 1).
AGENT_WORDS = {
    'a3c': '; A3C: asynchronous workers, one environment each (a3c.py)',
    'a2c_sync_step': '; batched A2C, synchronous steps (a2c.py)',
    'a2c_sync_traj': '; batched A2C, synchronous trajectories (a2c.py)',
}


def describe_run(config, logdir, start_frames, learner_device='', master=''):
  """The run's resolved configuration: one block, printed before training.

  Args:
    config: Config.
    logdir: --logdir.
    start_frames: the frame counter at start (from a checkpoint, or 0).
    learner_device: the device the learner's ops ask for ('' if none).
    master: the learner's session target ('' in this process).
  """
  c = config
  levels = c.level_set.levels
  checkpoint = tf.train.latest_checkpoint(logdir)
  resumed = ('resumed from %s' % os.path.basename(checkpoint)
             if start_frames and checkpoint else 'new run')
  if not learner_device:
    gpus = tf.config.list_physical_devices('GPU')
    learner_device = 'GPU:0' if gpus else 'CPU'
  lines = [
      'Training %s from frame %d (%s) to %d frames%s:' % (
          c.level_set.name, start_frames, resumed, c.stop_frames,
          '' if c.stop_frames == c.total_environment_frames else
          ' (--stop_at_frames; the budget is %d)' % c.total_environment_frames),
      '  levels   %s: %d level%s (%s)' % (
          c.level_set.name, len(levels), '' if len(levels) == 1 else 's',
          c.level_set.domain),
      '  agent    %s network, %s core, %d actions%s' % (
          c.network, c.core, c.num_actions, AGENT_WORDS.get(c.agent, '')),
      '  actors   %d x %d environments (%d per process), unroll %d, %d '
      'frame%s per step' % (
          c.num_actors, c.envs_per_actor, c.envs_per_process,
          c.unroll_length, c.num_action_repeats,
          '' if c.num_action_repeats == 1 else 's'),
      '  learner  batch %d, %s%s (%d CPU cores here)' % (
          c.batch_size, learner_device, ' via ' + master if master else '',
          os.cpu_count() or 1),
      '  update   RMSProp lr %g annealed linearly to 0 at frame %d, epsilon '
      '%g, decay %g, momentum %g; entropy cost %g, baseline cost %g, '
      'discount %g, %s reward clipping, gradient norm clipping %s' % (
          c.learning_rate, c.total_environment_frames, c.epsilon, c.decay,
          c.momentum, c.entropy_cost, c.baseline_cost, c.discounting,
          c.reward_clipping, '%g' % c.gradient_clipping
          if c.gradient_clipping else 'off'),
  ]
  if c.small_machine:
    lines.append('  switch   --small_machine: %s (flags given explicitly win)'
                 % c.small_machine)
  lines += [
      '  logdir   %s (checkpoints every %d s)' % (logdir,
                                                  c.save_checkpoint_secs),
  ]
  return '\n'.join(lines)


# What the update does (learner.compute_diagnostics, apply_gradients),
# averaged over each row's learner steps: progress.csv columns after the
# losses. `gradient_clipped` averages to the fraction of steps clipped.
DIAGNOSTIC_FIELDS = (
    'gradient_norm', 'gradient_clipped', 'gradient_clip_ratio',
    'pg_logits_gradient_norm', 'baseline_gradient_norm',
    'entropy_logits_gradient_norm', 'policy_entropy', 'policy_entropy_ratio',
    'policy_distance_from_uniform', 'mean_value')


def upgrade_csv(path, fields):
  """Rewrites the CSV file `path` with the header `fields` if its own
  differs (a run resumed by a newer version of the project): old rows keep
  their values by column name, new columns are empty there."""
  with open(path, newline='') as f:
    reader = csv.DictReader(f)
    if list(reader.fieldnames) == list(fields):
      return
    rows = list(reader)

  def write(f):
    text = io.StringIO(newline='')
    writer = csv.DictWriter(text, fields, extrasaction='ignore')
    writer.writeheader()
    writer.writerows(rows)
    f.write(text.getvalue().encode())

  files.write_atomically(path, write)
  logging.info('%s: columns updated to this version (%d rows kept).', path,
               len(rows))


# `<logdir>/episodes.csv`: every finished game, written with the progress row
# that first counts it (`frames` is that row's).
EPISODES_CSV_FIELDS = ('wall_time', 'frames', 'level_name', 'episode_return',
                       'episode_frames')


def new_returns_window():
  """{level: the last 100 returns}, as the console and curves.py mean."""
  return collections.defaultdict(lambda: collections.deque(maxlen=100))


def resume_episodes(logdir):
  """What a resumed run continues from `<logdir>/episodes.csv`, read as a
  stream: (its number of games, new_returns_window() filled from it). A run
  begun before episodes.csv existed starts afresh, so that `episodes` never
  counts a game the window has not seen (curves.py takes a mean as covering
  100 games once `episodes` is 100). Learner steps restart at 0: that is how
  curves.py finds a resumption."""
  returns, episodes = new_returns_window(), 0
  path = os.path.join(logdir, 'episodes.csv')
  if not os.path.exists(path):
    return episodes, returns
  with open(path, newline='') as f:
    for row in csv.DictReader(f):
      try:
        returns[row['level_name']].append(float(row['episode_return']))
      except (TypeError, ValueError):  # A line cut by a crash.
        continue
      episodes += 1
  return episodes, returns


class Progress:
  """Collects episode returns and losses; reports every few seconds. A
  resumed run continues its episode count and the window of the last 100
  returns (resume_episodes)."""

  CSV_FIELDS = ('wall_time', 'frames', 'fps', 'learner_steps',
                'learner_steps_per_sec', 'total_loss', 'policy_gradient_loss',
                'baseline_loss', 'entropy_loss', 'learning_rate',
                'mean_episode_return', 'episodes', 'suite_score',
                'mean_capped_hns') + DIAGNOSTIC_FIELDS + ('level_name',) + (
                    # Fractions of wall time (bottleneck.Figures); the
                    # actors' are empty when they run in other processes.
                    'learner_waiting', 'learner_computing', 'queue_fill',
                    'actor_inference', 'actor_environment', 'actor_waiting')

  def __init__(self, logdir, config, start_frames, log_interval_secs):
    self._config = config
    self._log_interval_secs = log_interval_secs
    self._writer = tf.compat.v1.summary.FileWriter(logdir)
    self._csv_path = os.path.join(logdir, 'progress.csv')
    self._episodes, self._returns = resume_episodes(logdir)
    self._episodes_file, self._episodes_csv = _open_csv(
        os.path.join(logdir, 'episodes.csv'), EPISODES_CSV_FIELDS)
    if os.path.exists(self._csv_path) and os.path.getsize(self._csv_path):
      upgrade_csv(self._csv_path, self.CSV_FIELDS)
    self._csv_file, self._csv = _open_csv(self._csv_path, self.CSV_FIELDS)
    self._new_returns = []
    self._stats = []
    self._steps = 0
    self._last_time = time.time()
    self._last_frames = start_frames
    self._last_steps = 0
    self._rates = collections.deque([(self._last_time, start_frames)])
    self._times = bottleneck.Window(self._last_time)
    self._diagnosis_times = bottleneck.Window(self._last_time)

  def add(self, outputs, frames, times=None):
    """Records one learner step's LearnerOutputs (numpy) and, if given, its
    bottleneck.StepTimes."""
    self._steps += 1
    if times is not None and self._steps == 1:
      # Timing starts after the first step, which compiles (XLA).
      self._times, self._diagnosis_times = [
          bottleneck.Window(times.end, times.probes.actor_times)
          for _ in range(2)]
    elif times is not None:
      self._times.add(times)
      self._diagnosis_times.add(times)
    self._stats.append(outputs.stats)
    infos, levels = outputs.infos, outputs.level_name
    for t, b in zip(*np.nonzero(infos.game_over)):
      level = levels[b].decode()
      episode_return = float(infos.episode_return[t, b])
      self._returns[level].append(episode_return)
      self._new_returns.append((level, episode_return,
                                int(infos.episode_step[t, b])))
      self._episodes += 1
    if time.time() - self._last_time >= self._log_interval_secs:
      self.report(frames)

  @property
  def steps_since_report(self):
    return self._steps - self._last_steps

  def mean_return(self):
    all_returns = [r for rs in self._returns.values() for r in rs]
    return float(np.mean(all_returns)) if all_returns else float('nan')

  def report(self, frames):
    now = time.time()
    elapsed = max(now - self._last_time, 1e-9)
    fps = (frames - self._last_frames) / elapsed
    steps_per_sec = (self._steps - self._last_steps) / elapsed
    stats = {k: float(np.mean([s[k] for s in self._stats]))
             for k in self._stats[0]} if self._stats else {}
    level_set = self._config.level_set
    suite = capped = None
    if level_set.multitask and self._returns:
      returns = {level: list(rs) for level, rs in self._returns.items()}
      suite = scores.suite_summary(level_set.domain, level_set.name, returns)
      capped = scores.mean_capped_hns(level_set.domain, returns)
    row = dict(wall_time='%.1f' % now, frames=frames, fps='%.0f' % fps,
               learner_steps=self._steps,
               learner_steps_per_sec='%.2f' % steps_per_sec,
               mean_episode_return='%.3f' % self.mean_return(),
               episodes=self._episodes,
               suite_score='' if not suite or suite['value'] is None else
               '%.2f' % suite['value'],
               mean_capped_hns='' if capped is None else '%.2f' % capped)
    for k in ('total_loss', 'policy_gradient_loss', 'baseline_loss',
              'entropy_loss', 'learning_rate') + DIAGNOSTIC_FIELDS:
      row[k] = '%.6g' % stats[k] if k in stats else ''
    row['level_name'] = level_set.name
    figures = self._times.figures(now)
    row.update(figure_columns(figures))
    self._csv.writerow(row)
    self._csv_file.flush()
    self._episodes_csv.writerows(
        dict(wall_time='%.1f' % now, frames=frames, level_name=level,
             episode_return='%g' % episode_return,
             episode_frames=step * self._config.num_action_repeats)
        for level, episode_return, step in self._new_returns)
    self._episodes_file.flush()

    values = dict(fps=fps, learner_steps_per_sec=steps_per_sec, **stats)
    if self._returns:
      values['mean_episode_return'] = self.mean_return()
    if suite and suite['value'] is not None:
      values[suite['metric']] = suite['value']
    summary = tf.compat.v1.Summary()
    for k, v in values.items():
      summary.value.add(tag='learner/' + k, simple_value=v)
    for k, v in figure_columns(figures).items():
      if v:
        summary.value.add(tag='bottleneck/' + k, simple_value=float(v))
    for level, episode_return, episode_step in self._new_returns:
      summary.value.add(tag=level + '/episode_return',
                        simple_value=episode_return)
      summary.value.add(tag=level + '/episode_frames',
                        simple_value=episode_step *
                        self._config.num_action_repeats)
    self._writer.add_summary(summary, frames)
    self._writer.flush()

    self._rates.append((now, frames))
    while len(self._rates) > 2 and self._rates[1][0] <= now - ETA_WINDOW_SECS:
      self._rates.popleft()
    logging.info(
        'frames %d (%.3g%%)  fps %.0f  ETA %s  learner steps/s %.2f  loss %s  '
        'episodes %d  %s', frames,
        100. * frames / self._config.stop_frames, fps,
        format_duration(eta_secs(frames, self._config.stop_frames,
                                 self._rates)),
        steps_per_sec, '%.3f' % stats['total_loss'] if stats else '-',
        self._episodes, self._returns_text(suite))
    self._new_returns = []
    self._stats = []
    self._last_time, self._last_frames = now, frames
    self._last_steps = self._steps
    self._times = self._times.next(now)
    self._diagnose(now)

  def _returns_text(self, suite):
    """Returns for the console: a suite's score and how many levels have
    finished episodes, or the mean return of each of up to 4 levels."""
    if suite:
      return '%s %s (%d/%d levels with episodes)' % (
          suite['metric'], '-' if suite['value'] is None else
          '%.1f' % suite['value'], suite['num_levels'],
          len(self._config.level_set.levels))
    if len(self._returns) > 4:
      return 'mean return (last 100/level) %.2f' % self.mean_return()
    if len(self._returns) == 1:
      return 'return (last 100) %.2f' % self.mean_return()
    return 'return (last 100) ' + (' '.join(
        '%s=%.2f' % (level, np.mean(rs))
        for level, rs in sorted(self._returns.items())) or '-')

  def _diagnose(self, now):
    """Every diagnosis_interval_secs: names the bottleneck, if clear."""
    interval = self._config.diagnosis_interval_secs
    figures = self._diagnosis_times.figures(now)
    if not interval or figures.wall_secs < interval:
      return
    self._diagnosis_times = self._diagnosis_times.next(now)
    diagnosis = bottleneck.diagnose(figures)
    if diagnosis:
      logging.info('%s', diagnosis)

  def write_text(self, tag, text, frames):
    """A text summary (TensorBoard's Text tab), e.g. the learner's devices."""
    summary = tf.compat.v1.Summary()
    value = summary.value.add(tag=tag, tensor=tf.make_tensor_proto(text))
    value.metadata.plugin_data.plugin_name = 'text'
    self._writer.add_summary(summary, frames)
    self._writer.flush()

  def close(self):
    self._writer.close()
    self._csv_file.close()
    self._episodes_file.close()


def _open_csv(path, fields):
  """(file, csv.DictWriter) appending to `path`, with a header if new."""
  new_file = not os.path.exists(path) or not os.path.getsize(path)
  f = open(path, 'a', newline='')
  writer = csv.DictWriter(f, fields)
  if new_file:
    writer.writeheader()
  return f, writer


def figure_columns(figures):
  """progress.csv's columns of bottleneck.Figures ('' where unknown)."""
  return {k: '' if v is None else '%.3f' % v
          for k, v in figures._asdict().items() if k != 'wall_secs'}


def eta_secs(frames, total_frames, rates):
  """Seconds to `total_frames` at the rate between the first and last of
  `rates`, (time, frames) pairs; None before a rate is known."""
  (start, start_frames), (end, end_frames) = rates[0], rates[-1]
  if frames >= total_frames:
    return 0.
  if end <= start or end_frames <= start_frames:
    return None
  return (total_frames - frames) * (end - start) / (end_frames - start_frames)


def format_duration(secs):
  """'45s', '4m05s', '8h17m', '2d03h'; '-' for None."""
  if secs is None:
    return '-'
  secs = int(round(secs))
  days, hours = divmod(secs, 86400)
  hours, minutes = divmod(hours, 3600)
  minutes, seconds = divmod(minutes, 60)
  if days:
    return '%dd%02dh' % (days, hours)
  if hours:
    return '%dh%02dm' % (hours, minutes)
  if minutes:
    return '%dm%02ds' % (minutes, seconds)
  return '%ds' % seconds
