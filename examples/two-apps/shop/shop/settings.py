"""Settings of the shop example; like the blog, configured from the environment."""
import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "shop.example.com").split(",")

INSTALLED_APPS = ["django.contrib.staticfiles"]
ROOT_URLCONF = "shop.urls"
DATABASES = {}
USE_TZ = True

STATIC_URL = "/assets/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT", "/srv/shop/assets")
STATICFILES_DIRS = [os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets")]
