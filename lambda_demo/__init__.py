"""``make demo``: the whole pipeline on the local stack in one command.

Not a layer: it starts every layer's own command (the producer, the batch layer, the
speed layer, the dashboard) as processes of their own, and reads the serving views as the
reader role, the way a user would.
"""
