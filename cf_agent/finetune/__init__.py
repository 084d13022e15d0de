"""Fine-tuning a local LLM on verified counterfactuals (LoRA, peft): `cf-agent finetune`."""
