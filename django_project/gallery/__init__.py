"""The lesson's "AI Art Gallery": images made by the course's autoencoder, VAE and GAN."""
