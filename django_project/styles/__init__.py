"""The personal style studio: learn a small VAE from 5-10 images of a style, then vary it."""
