"""5.4.1 Buying apples: two multiply nodes, forward then backward by hand.

Run: python examples/buy_apple.py
"""

from chainrule import MulLayer


def main() -> None:
    apple, apple_num, tax = 100, 2, 1.1

    mul_apple_layer = MulLayer()
    mul_tax_layer = MulLayer()

    # forward (순전파)
    apple_price = mul_apple_layer.forward(apple, apple_num)
    price = mul_tax_layer.forward(apple_price, tax)

    # backward (역전파)
    dprice = 1
    dapple_price, dtax = mul_tax_layer.backward(dprice)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)

    # :.10g prints 220, not the float 220.00000000000003 the book shows.
    print(f"price: {price:.10g}")
    print(f"dApple: {dapple:.10g}")
    print(f"dApple_num: {dapple_num:.10g}")
    print(f"dTax: {dtax:.10g}")


if __name__ == "__main__":
    main()
