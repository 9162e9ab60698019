"""rnnscope: open recurrent language models neuron by neuron.

The main entry points::

    from rnnscope.model import RecurrentLM, ModelConfig        # the model
    from rnnscope.checkpoint import load_model, save_model     # our checkpoint format
    from rnnscope.interventions import Intervention, run_stepwise
"""
__version__ = "0.1.0"
