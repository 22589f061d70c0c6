"""LIDC-IDRI lung nodules: CT slice stacks through each nodule -> malignancy; the task registers in task.py."""
