"""The Gradio chat app: `python app.py` (configure with RAG_* environment variables)."""

from rag.web.app import main

if __name__ == "__main__":
    main()
