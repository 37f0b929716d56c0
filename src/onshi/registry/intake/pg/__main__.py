"""The reading process of a large 資格取得届 import (``python -m onshi.registry.intake.pg``): reads its job from
standard input and sends its messages on standard output (:mod:`onshi.registry.intake.pg.worker`)."""

import pickle
import sys

from onshi.registry.intake.pg.worker import Sender, run

run(Sender(sys.stdout.buffer), pickle.load(sys.stdin.buffer))
