"""Detection evaluation: nuScenes results files, metrics through nuscenes-devkit, reports and plots."""
