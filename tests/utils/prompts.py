"""Two small passages and a question about them, shared by LLM tests."""

from rag.answer.prompts import Passage

PASSAGES = [
    Passage(
        index=1,
        title="Kinematics",
        section="Forward kinematics",
        text="Forward kinematics computes the pose of the end effector from the joint angles. "
        "It chains one transform per link.",
    ),
    Passage(
        index=2,
        title="Control",
        section="PID",
        text="A PID controller combines proportional, integral and derivative terms. "
        "The integral term removes steady-state error. Tuning sets the three gains.",
    ),
]
QUESTION = "Which term of a PID controller removes steady-state error?"
