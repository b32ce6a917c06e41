// placeholder: the stage1 protocol lands here
