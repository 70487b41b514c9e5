"""A plausible wrong smooth weighted round robin: '>=' keeps the LAST of equals."""

import threading


class SmoothWeighted:
    def __init__(self, weights):
        for weight in weights.values():
            if not isinstance(weight, int) or weight < 0:
                raise ValueError(weight)
        if not any(weights.values()):
            raise ValueError("no positive weight")
        self.weights = dict(weights)
        self.current = dict.fromkeys(weights, 0)
        self.lock = threading.Lock()

    def pick(self, available=None):
        with self.lock:
            names = [n for n in self.weights if self.weights[n] > 0]
            if available is not None:
                names = [n for n in names if n in available]
            if not names:
                raise ValueError("nothing available")
            best = None
            for name in names:
                self.current[name] += self.weights[name]
                if best is None or self.current[name] >= self.current[best]:  # wrong on ties
                    best = name
            self.current[best] -= sum(self.weights[n] for n in names)
            return best
