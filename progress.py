# Copyright the impala-tf authors. Licensed under the Apache License 2.0.
"""Training progress: the console, TensorBoard and `<logdir>/progress.csv`.

Every `log_interval_secs` the learner reports frames, frames/s, learner
steps/s, the losses, the learning rate, the mean return of the last 100
games per level and, for suites, the human-normalised suite score.
"""

import collections
import csv
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

import report



# What the update does (learner.compute_diagnostics, apply_gradients),
# averaged over each row's learner steps: progress.csv columns after the
# losses. `gradient_clipped` averages to the fraction of steps clipped.
DIAGNOSTIC_FIELDS = (
    'gradient_norm', 'gradient_clipped', 'gradient_clip_ratio',
    'pg_logits_gradient_norm', 'baseline_gradient_norm',
    'entropy_logits_gradient_norm', 'policy_entropy', 'policy_entropy_ratio',
    'policy_distance_from_uniform', 'mean_value')


class Progress:
  """Collects episode returns and losses; reports every few seconds."""

  CSV_FIELDS = ('wall_time', 'frames', 'fps', 'learner_steps',
                'learner_steps_per_sec', 'total_loss', 'policy_gradient_loss',
                'baseline_loss', 'entropy_loss', 'learning_rate',
                'mean_episode_return', 'episodes', 'suite_score',
                'mean_capped_hns') + DIAGNOSTIC_FIELDS + ('level_name',)

  def __init__(self, logdir, config, start_frames, log_interval_secs):
    self._config = config
    self._log_interval_secs = log_interval_secs
    self._writer = tf.compat.v1.summary.FileWriter(logdir)
    self._csv_path = os.path.join(logdir, 'progress.csv')
    new_file = not os.path.exists(self._csv_path)
    self._csv_file = open(self._csv_path, 'a', newline='')
    self._csv = csv.DictWriter(self._csv_file, self.CSV_FIELDS)
    if new_file:
      self._csv.writeheader()
    self._returns = collections.defaultdict(
        lambda: collections.deque(maxlen=100))
    self._new_returns = []
    self._episodes = 0
    self._stats = []
    self._steps = 0
    self._last_time = time.time()
    self._last_frames = start_frames
    self._last_steps = 0

  def add(self, outputs, frames):
    """Records one learner step's LearnerOutputs (numpy)."""
    self._steps += 1
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
      suite = report.suite_summary(level_set.domain, level_set.name, returns)
      capped = report.mean_capped_hns(level_set.domain, returns)
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
    self._csv.writerow(row)
    self._csv_file.flush()

    values = dict(fps=fps, learner_steps_per_sec=steps_per_sec, **stats)
    if self._returns:
      values['mean_episode_return'] = self.mean_return()
    if suite and suite['value'] is not None:
      values[suite['metric']] = suite['value']
    summary = tf.compat.v1.Summary()
    for k, v in values.items():
      summary.value.add(tag='learner/' + k, simple_value=v)
    for level, episode_return, episode_step in self._new_returns:
      summary.value.add(tag=level + '/episode_return',
                        simple_value=episode_return)
      summary.value.add(tag=level + '/episode_frames',
                        simple_value=episode_step *
                        self._config.num_action_repeats)
    self._writer.add_summary(summary, frames)
    self._writer.flush()

    per_level = ''
    if len(self._returns) <= 4:
      per_level = ' '.join('%s=%.2f' % (level, np.mean(rs))
                           for level, rs in sorted(self._returns.items()))
    logging.info(
        'frames %d  fps %.0f  learner steps/s %.2f  loss %s  episodes %d  '
        'mean return (last 100/level) %.2f %s%s', frames, fps, steps_per_sec,
        '%.3f' % stats['total_loss'] if stats else '-', self._episodes,
        self.mean_return(), per_level,
        '  %s %.1f' % (suite['metric'], suite['value'])
        if suite and suite['value'] is not None else '')
    self._new_returns = []
    self._stats = []
    self._last_time, self._last_frames = now, frames
    self._last_steps = self._steps

  def close(self):
    self._writer.close()
    self._csv_file.close()
