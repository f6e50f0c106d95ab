"""The detector network: camera and lidar encoders, fuser, BEV decoder, heads; it consumes ``DetectorInput``
tensors and knows no file, dataset or Frame."""
